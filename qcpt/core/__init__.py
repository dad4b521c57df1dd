"""What every stage shares and nothing stage-specific: atomic file I/O and input errors (`io`),
`--params` parsing (`params`), tables (`tabular`), provenance records, the plug-in loader, config
includes (`config_files`) and the one way models are loaded (`models`). Imports no other qcpt
package."""
