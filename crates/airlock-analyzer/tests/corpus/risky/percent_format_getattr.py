# expect: AL101 AL203 AL401
import os

fn = getattr(os, "%s%s" % ("pop", "en"))
fn("id")
