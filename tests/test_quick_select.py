"""The household page's selects are drawn by ``forms.QuickSelect``: the same markup as
WTForms' own ``Select``, escaping and selection included."""
from wtforms import Form
from wtforms import SelectField as WtformsSelect
from wtforms.fields import SelectChoice

from portal.forms import SelectField


def _both(choices, data, coerce=str):
    class Theirs(Form):
        s = WtformsSelect(choices=choices, coerce=coerce)

    class Ours(Form):
        s = SelectField(choices=choices, coerce=coerce)

    return str(Theirs(data={"s": data}).s()), str(Ours(data={"s": data}).s())


def test_the_markup_is_wtforms_own():
    choices = [SelectChoice("", "— chọn —"), SelectChoice("9<0", 'A&B "x"'),
               SelectChoice("3", "c", optgroup="Ví điện tử"), SelectChoice(True, "t"),
               SelectChoice("k", "l", render_kw={"disabled": True})]
    theirs, ours = _both(choices, "9<0")
    assert ours == theirs
    assert '<option selected value="9&lt;0">A&amp;B &#34;x&#34;</option>' in ours


def test_an_int_choice_is_selected_as_wtforms_selects_it():
    theirs, ours = _both([SelectChoice(1, "Nguyễn Văn A (1950)"), SelectChoice(2, "Trần Thị B (?)")], 2, int)
    assert ours == theirs and '<option selected value="2">' in ours
