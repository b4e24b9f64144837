from datetime import date, datetime, timedelta

start = date(2024, 1, 1)
business_days = [start + timedelta(days=i) for i in range(366) if (start + timedelta(days=i)).weekday() < 5]
print(len(business_days), "business days")
stamp = datetime.strptime("2024-03-15 16:00", "%Y-%m-%d %H:%M")
print(stamp.isoformat())
