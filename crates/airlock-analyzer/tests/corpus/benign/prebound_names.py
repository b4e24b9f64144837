# np, pd, plt and sns are pre-bound by the runner.
df = pd.DataFrame({"x": np.arange(100), "y": np.random.default_rng(4).normal(size=100).cumsum()})
sns.lineplot(data=df, x="x", y="y")
plt.title("Random walk")
