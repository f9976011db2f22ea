"""The README's example chart and table are what the code makes now from the demo school (docs/readme_example.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from reports.charts import PNG_SIGNATURE

ROOT = Path(__file__).resolve().parents[1]


def test_readme_shows_the_demo_school_suppressed_as_the_code_draws_it() -> None:
    spec = importlib.util.spec_from_file_location("readme_example", ROOT / "docs" / "readme_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    found = module.example()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert found.markdown in readme, "run `python docs/readme_example.py` and paste its table into README.md"
    assert f"![{found.alt}](docs/report-destinations-send.png)" in readme
    assert "| SEN support | x |" in found.markdown and " 1 " not in found.markdown  # suppressed
    committed = (ROOT / "docs" / "report-destinations-send.png").read_bytes()
    # Same layout (matplotlib's anti-aliasing may differ by a pixel between machines, the size may not).
    assert committed.startswith(PNG_SIGNATURE) and committed[16:24] == found.chart[16:24]
