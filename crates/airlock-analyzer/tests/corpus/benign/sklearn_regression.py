import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

rng = np.random.default_rng(0)
X = rng.normal(size=(400, 3))
y = X @ np.array([0.5, -0.2, 0.1]) + rng.normal(scale=0.1, size=400)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
model = LinearRegression().fit(X_train, y_train)
print("R^2:", model.score(X_test, y_test), "coef:", model.coef_.round(3))
