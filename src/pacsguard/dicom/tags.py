"""The data element tags pacsguard names, as 32-bit ``(group << 16) | element`` integers (the
form the walker reads them in), with their PS3.6 keyword in a comment.

Every other module imports these names instead of spelling a tag again. No pydicom import.
"""

from __future__ import annotations

# Data structures, PS3.5 §7.5
ITEM = 0xFFFEE000  # (FFFE,E000) Item
ITEM_DELIM = 0xFFFEE00D  # (FFFE,E00D) Item Delimitation Item
SEQ_DELIM = 0xFFFEE0DD  # (FFFE,E0DD) Sequence Delimitation Item
UNDEFINED_LENGTH = 0xFFFFFFFF  # PS3.5 §7.1.1: Value Length of an undefined-length element

# File Meta Information, PS3.10 §7.1
TRANSFER_SYNTAX_UID = 0x00020010  # TransferSyntaxUID

# Command set, PS3.7 §E.1 (group 0000: each tag is also its element number)
AFFECTED_SOP_CLASS_UID = 0x00000002  # AffectedSOPClassUID
AFFECTED_SOP_INSTANCE_UID = 0x00001000  # AffectedSOPInstanceUID
STATUS = 0x00000900  # Status

# Identity and equipment, PS3.3 C.12.1, C.7.2.1, C.7.3.1, C.7.5.1
SOP_CLASS_UID = 0x00080016  # SOPClassUID
SOP_INSTANCE_UID = 0x00080018  # SOPInstanceUID
MODALITY = 0x00080060  # Modality
MANUFACTURER = 0x00080070  # Manufacturer
INSTITUTION_NAME = 0x00080080  # InstitutionName
STATION_NAME = 0x00081010  # StationName
MODEL_NAME = 0x00081090  # ManufacturerModelName
DEVICE_SERIAL_NUMBER = 0x00181000  # DeviceSerialNumber
SOFTWARE_VERSIONS = 0x00181020  # SoftwareVersions
STUDY_INSTANCE_UID = 0x0020000D  # StudyInstanceUID
SERIES_INSTANCE_UID = 0x0020000E  # SeriesInstanceUID

# Image Pixel module, PS3.3 C.7.6.3, and General Image C.7.6.1
SAMPLES_PER_PIXEL = 0x00280002  # SamplesPerPixel
PHOTOMETRIC_INTERPRETATION = 0x00280004  # PhotometricInterpretation
PLANAR_CONFIGURATION = 0x00280006  # PlanarConfiguration
NUMBER_OF_FRAMES = 0x00280008  # NumberOfFrames
ROWS = 0x00280010  # Rows
COLUMNS = 0x00280011  # Columns
BITS_ALLOCATED = 0x00280100  # BitsAllocated
BITS_STORED = 0x00280101  # BitsStored
PIXEL_REPRESENTATION = 0x00280103  # PixelRepresentation
LOSSY_IMAGE_COMPRESSION = 0x00282110  # LossyImageCompression

# Encapsulated Document module, PS3.3 C.24.2
ENCAPSULATED_DOCUMENT = 0x00420011  # EncapsulatedDocument

# Pixel data, PS3.3 C.7.6.3 and C.7.6.24
FLOAT_PIXEL_DATA = 0x7FE00008  # FloatPixelData
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009  # DoubleFloatPixelData
PIXEL_DATA = 0x7FE00010  # PixelData
PIXEL_TAGS = frozenset({PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA})

#: the Image Pixel module attributes that say how pixel values are laid out (read inside items
#: too, for nested pixel data such as icons)
LAYOUT_TAGS = frozenset({SAMPLES_PER_PIXEL, PHOTOMETRIC_INTERPRETATION, PLANAR_CONFIGURATION,
                         NUMBER_OF_FRAMES, ROWS, COLUMNS, BITS_ALLOCATED, BITS_STORED,
                         PIXEL_REPRESENTATION})
