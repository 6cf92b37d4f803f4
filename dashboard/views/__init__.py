"""The pages (lab, sweep, history, about) and their shared helpers; *_page.py are the page scripts."""
