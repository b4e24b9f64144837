import numpy as np
import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

returns = pd.DataFrame(np.random.default_rng(1).normal(size=(250, 6)), columns=list("ABCDEF"))
corr = returns.corr()
plt.figure(figsize=(6, 5))
sns.heatmap(corr, annot=True, fmt=".2f", cmap="vlag", vmin=-1, vmax=1)
plt.title("Correlation")
plt.tight_layout()
