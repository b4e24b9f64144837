import pandas as pd


class MeanReversion:
    def __init__(self, window: int = 20, threshold: float = 2.0):
        self.window = window
        self.threshold = threshold

    def signals(self, close: pd.Series) -> pd.Series:
        z = (close - close.rolling(self.window).mean()) / close.rolling(self.window).std()
        return (-z.clip(-self.threshold, self.threshold) / self.threshold).fillna(0)


strategy = MeanReversion(window=10)
print(strategy.signals(pd.Series(range(50), dtype=float)).tail())
