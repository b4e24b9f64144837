import logging

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("backtest")
for year in range(2015, 2024):
    log.info("processing %d", year)
