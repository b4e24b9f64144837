from dataclasses import dataclass, field


@dataclass
class Position:
    ticker: str
    shares: float
    price: float

    @property
    def value(self) -> float:
        return self.shares * self.price


@dataclass
class Portfolio:
    positions: list = field(default_factory=list)

    def total(self) -> float:
        return sum(p.value for p in self.positions)


book = Portfolio([Position("AAPL", 10, 190.0), Position("MSFT", 5, 410.0)])
print(f"{book.total():,.2f}")
