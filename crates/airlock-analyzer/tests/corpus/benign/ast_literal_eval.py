import ast

params = ast.literal_eval("{'window': 20, 'threshold': 1.5, 'assets': ['SPY', 'TLT']}")
print(params["window"], params["assets"])
