"""Text primitives shared by the domains: words, stop words, sentences."""
