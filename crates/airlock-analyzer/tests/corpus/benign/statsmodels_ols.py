import numpy as np
import pandas as pd
import statsmodels.api as sm

data = pd.read_csv("factors.csv")
X = sm.add_constant(data[["mkt", "smb", "hml"]])
fit = sm.OLS(data["ret"], X).fit()
print(fit.summary())
