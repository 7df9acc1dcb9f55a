"""Which clinic branch a call belongs to (pure).

Attribution's branch first (the tracking number or pool the caller dialled says it), else the clinic
number involved (the number dialled on an inbound call, the line an outbound call went out on), else the
operator's extension. Reports, the call log's filter and retention per branch all read the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BranchRules:
    # E.164 clinic number -> branch; extension -> branch.
    by_number: Mapping[str, str] = field(default_factory=dict)
    by_extension: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        by_number: Mapping[str, str],
        by_extension: Mapping[str, str],
        e164: Callable[[str], str | None],
    ) -> BranchRules:
        """From the settings' maps, whose numbers may be written any way the normalizer understands."""
        numbers = {number: branch for raw, branch in by_number.items() if (number := e164(raw))}
        return cls(numbers, dict(by_extension))

    def branch_of(
        self,
        *,
        attributed: str | None,
        direction: str,
        caller: str,
        called: str,
        operator: str | None,
        answered_by: str | None,
        e164: Callable[[str], str | None],
    ) -> str | None:
        if attributed:
            return attributed
        if self.by_number:
            line = called if direction == "inbound" else caller
            number = e164(line) if line else None
            if number is not None and number in self.by_number:
                return self.by_number[number]
        for extension in (operator, answered_by):
            if extension and extension in self.by_extension:
                return self.by_extension[extension]
        return None
