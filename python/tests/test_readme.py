"""python/README.md's example runs as written (on a temporary directory)."""

import pathlib
import re


def test_the_readme_example_runs(tmp_path, capsys):
    readme = pathlib.Path(__file__).parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert len(blocks) == 1
    code = blocks[0].replace('"/tmp/conduit-data"', repr(str(tmp_path / "data")))
    # Small segments: a sync topic writes each segment whole before use.
    code = code.replace('durability="sync"', 'durability="sync", segment_bytes=160 << 10, max_payload_bytes=1024')
    exec(compile(code, str(readme), "exec"), {})
    out = capsys.readouterr().out
    assert '0 customer-7 {\'type\': \'created\'} b\'{"id": 1}\'' in out
    assert "2 b'third'" in out
