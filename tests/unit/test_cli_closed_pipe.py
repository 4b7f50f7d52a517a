"""`tf-retainer ... | head`: the reader leaves early; the CLI ends quietly (141, as a shell tool ends on
SIGPIPE), not with a BrokenPipeError traceback."""

from __future__ import annotations

import io
import json

from tf_retainer_ops.cli import main


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_left_ends_the_command_quietly(tmp_path):
    evidence = tmp_path / "evidence.json"
    evidence.write_text(json.dumps({"format": "tf-retainer-evidence/1", "lead_id": "x"}))
    err = io.StringIO()
    assert main(["verify", str(evidence)], out=ClosedPipe(), err=err) == 141
    assert "Traceback" not in err.getvalue()
