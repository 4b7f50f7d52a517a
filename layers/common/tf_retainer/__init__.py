"""tf-retainer: take leads from vendors, retain their TrustedForm certificates, keep the evidence."""
