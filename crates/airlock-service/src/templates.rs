//! Code templates and runnable examples for callers and the prompts they build: a
//! factor, an indicator, a chart. Each runs as is in the default environment (tested).

use serde::Serialize;

/// A piece of code offered to callers.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub code: &'static str,
}

/// Templates: starting points meant to be edited.
pub const TEMPLATES: [Template; 2] = [
    Template {
        id: "factor",
        name: "Momentum factor",
        category: "factor",
        description: "A factor from prices: the 5-day over the 20-day rolling mean, minus one. Replace `prices` with your data (a file in `files`, or a variable).",
        code: "import numpy as np\nimport pandas as pd\n\nprices = pd.Series(100 + np.cumsum(np.random.default_rng(7).normal(0, 1, 250)), name=\"close\")\n\ndef factor(close: pd.Series, fast: int = 5, slow: int = 20) -> pd.Series:\n    return close.rolling(fast).mean() / close.rolling(slow).mean() - 1\n\nvalues = factor(prices)\nvalues.dropna().describe().round(4).to_dict()\n",
    },
    Template {
        id: "indicator",
        name: "RSI indicator",
        category: "indicator",
        description: "The 14-day relative strength index with Wilder's smoothing, in pandas alone.",
        code: "import numpy as np\nimport pandas as pd\n\nclose = pd.Series(100 + np.cumsum(np.random.default_rng(3).normal(0, 1, 120)))\n\ndef rsi(close: pd.Series, period: int = 14) -> pd.Series:\n    delta = close.diff()\n    gain = delta.clip(lower=0).ewm(alpha=1 / period, adjust=False).mean()\n    loss = (-delta.clip(upper=0)).ewm(alpha=1 / period, adjust=False).mean()\n    return 100 - 100 / (1 + gain / loss)\n\nround(float(rsi(close).iloc[-1]), 2)\n",
    },
];

/// Examples: complete programs that show what comes back.
pub const EXAMPLES: [Template; 1] = [Template {
    id: "chart",
    name: "Price chart",
    category: "chart",
    description: "A line chart of a price series with its 20-day mean; the figure comes back as a PNG in `charts`.",
    code: "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n\nprices = pd.Series(100 + np.cumsum(np.random.default_rng(11).normal(0, 1, 200)))\nfig, ax = plt.subplots(figsize=(8, 4))\nax.plot(prices, label=\"close\")\nax.plot(prices.rolling(20).mean(), label=\"20-day mean\")\nax.legend()\nax.set_title(\"Price and its 20-day mean\")\nprint(f\"last close {prices.iloc[-1]:.2f}\")\n",
}];
