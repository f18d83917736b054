"""One clear label per thing (issue 13 §5): the rule "not verified yet", the police's
answers, the history's source and the change the police's answer proposes each have their
own words; none is the bare "Công an xác minh" any more."""
from portal.services import checks
from portal.web import SOURCE_LABELS


def test_rule_messages_are_distinct_and_say_who_said_what():
    messages = [r.message for r in checks.RULES.values()]
    assert len(set(messages)) == len(messages)
    assert not any(m.startswith("Công an xác minh") for m in messages)
    assert checks.RULES["not_verified"].message.startswith("Chưa được công an xác minh")
    for code in ("police_mismatch", "police_deceased", "police_moved", "police_not_found"):
        assert checks.RULES[code].message.startswith("Công an báo"), code


def test_the_history_source_is_not_a_rule(app):
    with app.test_request_context():
        labels = [str(v) for v in SOURCE_LABELS.values()]
        assert len(set(labels)) == len(labels)
        assert str(SOURCE_LABELS["police"]) == "Kết quả xác minh của công an"
        assert not set(labels) & {r.message for r in checks.RULES.values()}
