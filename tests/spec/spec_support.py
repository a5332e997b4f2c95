"""What the spec tests share: the errors a document is refused with."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hyperprune.spec import SearchSpecError, parse_search


def spec_errors(document: dict[str, Any], **sections: Any) -> list[str]:
    """The errors ``parse_search`` names for ``document`` with ``sections`` set in its spec (the
    document itself is left as it is); fails the test when the document parses."""
    doc = copy.deepcopy(document)
    doc["spec"].update(sections)
    with pytest.raises(SearchSpecError) as refused:
        parse_search(doc)
    return refused.value.errors
