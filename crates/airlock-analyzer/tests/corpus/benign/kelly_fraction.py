win_rate = 0.55
win_loss_ratio = 1.2
kelly = win_rate - (1 - win_rate) / win_loss_ratio
half_kelly = kelly / 2
print(f"Kelly: {kelly:.2%}, half: {half_kelly:.2%}")
