from fractions import Fraction

splits = [Fraction(3, 2), Fraction(2, 1), Fraction(1, 4)]
cumulative = Fraction(1)
for s in splits:
    cumulative *= s
print("cumulative split factor:", cumulative, float(cumulative))
