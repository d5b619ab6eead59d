"""Sources: bringing outside material (web pages, files) in for ingestion."""
