"""pacsguard.dicom."""
