import sys
from pathlib import Path

# deploy.py's package, importable from every test suite of the bundle
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
