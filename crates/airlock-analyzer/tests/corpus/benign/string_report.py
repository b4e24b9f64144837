import textwrap
from string import Template

template = Template("Portfolio $name returned $ret over $period.")
line = template.substitute(name="Alpha", ret="12.4%", period="2023")
print(textwrap.fill(line * 3, width=60))
