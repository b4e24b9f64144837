import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

returns = pd.read_csv("returns.csv", index_col=0)
corr = returns.corr()
dist = np.sqrt(0.5 * (1 - corr))
links = linkage(squareform(dist.values, checks=False), method="average")
clusters = fcluster(links, t=0.7, criterion="distance")
print(dict(zip(corr.columns, clusters)))
