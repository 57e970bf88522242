"""Hot state behind narrow ports, one per concern (`base.py`): memory for the embedded default, Redis scaled out."""
