# expect: AL205
import yaml

with open("config.yml") as f:
    config = yaml.load(f, Loader=yaml.Loader)
