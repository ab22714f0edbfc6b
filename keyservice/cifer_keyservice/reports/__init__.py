"""Seed 001's security reports (POST /api/security/reports/generate): their contents and their CSV and PDF files."""
