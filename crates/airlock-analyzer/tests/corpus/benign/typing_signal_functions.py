from typing import Callable, Dict, List

import pandas as pd

Signal = Callable[[pd.Series], pd.Series]

def crossover(fast: int, slow: int) -> Signal:
    def signal(close: pd.Series) -> pd.Series:
        return (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(int)
    return signal

signals: Dict[str, Signal] = {"golden": crossover(50, 200), "quick": crossover(5, 20)}
names: List[str] = sorted(signals)
print(names)
