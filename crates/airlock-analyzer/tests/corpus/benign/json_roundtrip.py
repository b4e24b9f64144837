import json

with open("config.json") as f:
    config = json.load(f)
config["lookback"] = int(config.get("lookback", 20))
summary = json.dumps(config, indent=2, sort_keys=True)
print(summary)
