"""Write small real bundles with vautoml at commit 334a048, for golden-file tests."""

import csv
import random

import numpy as np

rng = random.Random(0)
D = "/tmp/golden/data"
# table: binary classification with numeric, categorical and missing cells
with open(f"{D}/loans.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["income", "age", "region", "debt", "default"])
    for i in range(240):
        income = rng.gauss(50, 15)
        age = rng.randint(20, 70)
        region = rng.choice(["north", "south", "east"])
        debt = rng.gauss(10, 5)
        p = 1 / (1 + np.exp(-(debt - 10) / 3 + (income - 50) / 20))
        w.writerow(
            [f"{income:.1f}" if i % 17 else "", age, region, f"{debt:.2f}", "bad" if rng.random() < p else "good"]
        )
# table: regression
with open(f"{D}/prices.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["area", "rooms", "city", "price"])
    for _ in range(240):
        area = rng.uniform(30, 150)
        rooms = rng.randint(1, 6)
        city = rng.choice(["a", "b"])
        w.writerow(
            [f"{area:.1f}", rooms, city, f"{area * 3 + rooms * 10 + (20 if city == 'a' else 0) + rng.gauss(0, 5):.2f}"]
        )
# text: three classes
words = {
    "billing": "invoice charge refund payment bill card".split(),
    "tech": "error crash login password screen app".split(),
    "sales": "price offer discount buy quote plan".split(),
}
with open(f"{D}/tickets.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    for _ in range(240):
        label = rng.choice(list(words))
        text = " ".join(rng.choice(words[label] + ["the", "my", "please", "help"]) for _ in range(8))
        w.writerow([text, label])
