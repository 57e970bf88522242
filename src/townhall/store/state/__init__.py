"""Hot state behind one interface (`base.StateStore`): memory for the embedded default, Redis scaled out."""
