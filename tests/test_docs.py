"""The README is the import's contract: every issue code the importer can emit is listed."""
import re
from pathlib import Path

from portal.services.imports import ISSUE_CODES


def test_readme_lists_every_issue_code_with_its_severity():
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text("utf-8")
    readme = readme.split("### Import issue codes", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for codes, severity in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| (\w+) \|", readme, re.M):
        for code in re.findall(r"`(\w+)`", codes):
            listed[code] = severity
    assert listed == {code: sev for code, (sev, _) in ISSUE_CODES.items()}
