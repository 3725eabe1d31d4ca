"""The repository's documentation stands on its own and says what is tested."""

import re
from pathlib import Path

from tests import test_api_curl

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCUMENTED_BASE = "http://127.0.0.1:8000/api"


def test_no_document_points_outside_the_repository():
    for path in DOCS:
        text = path.read_text()
        assert "../" not in text, path.name
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert (path.parent / target).exists(), f"{path.name}: {target}"


def test_the_api_document_holds_exactly_the_curl_commands_run_by_curl_in_the_tests():
    text = (ROOT / "docs" / "api.md").read_text()
    documented = [
        block.replace(DOCUMENTED_BASE, test_api_curl.BASE_URL)
        for block in re.findall(r"```sh\n(curl .*?)```", text, re.DOTALL)
    ]
    tested = [
        test_api_curl.LIST_INCIDENTS,
        test_api_curl.GET_INCIDENT,
        test_api_curl.CREATE_INCIDENT,
        test_api_curl.UPDATE_INCIDENT,
        test_api_curl.DELETE_INCIDENT,
        test_api_curl.CREATE_MAINTENANCE,
        test_api_curl.CREATE_GROUP,
        test_api_curl.PLACE_MONITOR,
    ]
    assert documented == tested
