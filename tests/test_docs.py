"""The README is the import's contract: every issue code the importer can emit is listed."""
import re
from pathlib import Path

from portal.services.imports import ISSUE_CODES


def test_readme_lists_every_issue_code_with_its_severity():
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text("utf-8")
    readme = re.split(r"\n##+ ", readme.split("### Import issue codes", 1)[1], maxsplit=1)[0]
    listed = {}
    for codes, severity in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| (\w+) \|", readme, re.M):
        for code in re.findall(r"`(\w+)`", codes):
            listed[code] = severity
    assert listed == {code: sev for code, (sev, _) in ISSUE_CODES.items()}


def test_readme_lists_every_data_quality_rule():
    from portal.services.checks import RULES
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text("utf-8")
    section = re.split(r"\n##+ ", readme.split("### Data-quality rules", 1)[1], maxsplit=1)[0]
    listed = dict(re.findall(r"^\| `(\w+)` \| \w+ \| (\w+) \|", section, re.M))
    assert listed == {code: r.severity for code, r in RULES.items()}
