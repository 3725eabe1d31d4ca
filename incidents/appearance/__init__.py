"""The page's own settings, edited in the admin: its name, public URL, time
zone, logo, accent colour, header links, about text and default language.

``page.page_settings()`` is what every face reads (docs/page-settings.md).
"""
