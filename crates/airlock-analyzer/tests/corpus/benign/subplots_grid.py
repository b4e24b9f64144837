import matplotlib.pyplot as plt
import numpy as np

fig, axes = plt.subplots(2, 2, figsize=(8, 6), sharex=True)
x = np.linspace(0, 2 * np.pi, 200)
for k, ax in enumerate(axes.flat, start=1):
    ax.plot(x, np.sin(k * x))
    ax.set_title(f"k = {k}")
fig.tight_layout()
plt.savefig("outputs/grid.png")
