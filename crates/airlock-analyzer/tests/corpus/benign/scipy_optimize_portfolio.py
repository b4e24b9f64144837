import numpy as np
from scipy.optimize import minimize

cov = np.array([[0.04, 0.006, 0.01], [0.006, 0.09, 0.012], [0.01, 0.012, 0.0625]])
mu = np.array([0.08, 0.12, 0.10])

def neg_sharpe(w):
    return -(w @ mu) / np.sqrt(w @ cov @ w)

constraints = ({"type": "eq", "fun": lambda w: w.sum() - 1},)
result = minimize(neg_sharpe, np.ones(3) / 3, bounds=[(0, 1)] * 3, constraints=constraints)
print(result.x.round(3), -result.fun)
