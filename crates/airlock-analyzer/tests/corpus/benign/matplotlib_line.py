import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 500)
fig, ax = plt.subplots(figsize=(10, 4))
ax.plot(x, np.sin(x), label="sin")
ax.plot(x, np.cos(x), label="cos")
ax.set_title("Waves")
ax.legend()
fig.savefig("outputs/waves.png", dpi=120)
