# expect: AL201
def calculate(expression, evaluate=eval):
    return evaluate(expression)

print(calculate("1 + 1"))
