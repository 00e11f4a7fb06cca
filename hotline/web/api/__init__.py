"""The JSON API: thin routes over hotline.crm, hotline.reports and hotline.accounts."""
