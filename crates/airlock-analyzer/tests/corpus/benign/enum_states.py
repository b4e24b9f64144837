from enum import Enum


class Side(Enum):
    BUY = "buy"
    SELL = "sell"


def flip(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


print(flip(Side.BUY).value)
