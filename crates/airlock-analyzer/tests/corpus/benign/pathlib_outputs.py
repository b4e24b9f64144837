from pathlib import Path

import pandas as pd

out_dir = Path("outputs")
out_dir.mkdir(exist_ok=True)
pd.DataFrame({"x": [1, 2]}).to_csv(out_dir / "x.csv", index=False)
