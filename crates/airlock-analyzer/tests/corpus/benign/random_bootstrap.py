import random

random.seed(42)
sample = [random.gauss(0.0, 1.0) for _ in range(200)]
means = []
for _ in range(1000):
    resample = random.choices(sample, k=len(sample))
    means.append(sum(resample) / len(resample))
means.sort()
print("95% CI:", means[25], means[975])
