"""DICOM tags as ``int`` constants named by their DICOM keyword (``ImagePositionPatient = 0x00200032``).

Named from pydicom's data dictionary (a test checks every constant against
``pydicom.datadict.tag_for_keyword``), but written out here: importing pydicom
costs a quarter of a second, and the scan of an ordinary little-endian folder
(:mod:`rawheader`) must never import it. So this module imports nothing.

``VR`` gives the dictionary VR of the tags the fast header reader converts,
for implicit VR files (and elements written with VR ``UN``); tested against
``pydicom.datadict.dictionary_VR`` too.
"""

from __future__ import annotations

# file meta and identification
TransferSyntaxUID = 0x00020010
SpecificCharacterSet = 0x00080005
ImageType = 0x00080008
SOPClassUID = 0x00080016
SOPInstanceUID = 0x00080018
StudyInstanceUID = 0x0020000D
SeriesInstanceUID = 0x0020000E
FrameOfReferenceUID = 0x00200052
Modality = 0x00080060
SeriesNumber = 0x00200011
InstanceNumber = 0x00200013
AcquisitionNumber = 0x00200012

# descriptive text (DicomFile.tags)
SeriesDescription = 0x0008103E
Manufacturer = 0x00080070
ConvolutionKernel = 0x00181210
AcquisitionDateTime = 0x0008002A
AcquisitionDate = 0x00080022
AcquisitionTime = 0x00080032
ContentTime = 0x00080033
InstanceCreationTime = 0x00080013
GantryDetectorTilt = 0x00181120

# geometry and image pixel description
ImagePositionPatient = 0x00200032
ImageOrientationPatient = 0x00200037
PixelSpacing = 0x00280030
ImagerPixelSpacing = 0x00181164
SliceThickness = 0x00180050
SpacingBetweenSlices = 0x00180088
Rows = 0x00280010
Columns = 0x00280011
NumberOfFrames = 0x00280008
SamplesPerPixel = 0x00280002
PhotometricInterpretation = 0x00280004
BitsAllocated = 0x00280100
BitsStored = 0x00280101
PixelRepresentation = 0x00280103
RescaleSlope = 0x00281053
RescaleIntercept = 0x00281052
WindowCenter = 0x00281050
WindowWidth = 0x00281051

# acquisition (time, echo, diffusion)
TemporalPositionIdentifier = 0x00200100
EchoNumbers = 0x00180086
EchoTime = 0x00180081
TriggerTime = 0x00181060
DiffusionBValue = 0x00189087
DiffusionGradientOrientation = 0x00189089
DiffusionDirectionality = 0x00189075
DiffusionGradientDirectionSequence = 0x00189076
EffectiveEchoTime = 0x00189082

# enhanced multi-frame functional groups and dimensions
PerFrameFunctionalGroupsSequence = 0x52009230
SharedFunctionalGroupsSequence = 0x52009229
DimensionIndexSequence = 0x00209222
DimensionIndexPointer = 0x00209165
FunctionalGroupPointer = 0x00209167
DimensionIndexPrivateCreator = 0x00209213
FunctionalGroupPrivateCreator = 0x00209238
DimensionDescriptionLabel = 0x00209421
DimensionIndexValues = 0x00209157
StackID = 0x00209056
InStackPositionNumber = 0x00209057
TemporalPositionIndex = 0x00209128
NominalCardiacTriggerDelayTime = 0x00209153
FrameType = 0x00089007
PlanePositionSequence = 0x00209113
PlaneOrientationSequence = 0x00209116
PixelMeasuresSequence = 0x00289110
FrameContentSequence = 0x00209111
PixelValueTransformationSequence = 0x00289145
FrameVOILUTSequence = 0x00289132
MREchoSequence = 0x00189114
MRDiffusionSequence = 0x00189117
CardiacSynchronizationSequence = 0x00189118
MRImageFrameTypeSequence = 0x00189226
CTImageFrameTypeSequence = 0x00189329
FrameAnatomySequence = 0x00209071

# other
DirectoryRecordSequence = 0x00041220
PixelData = 0x7FE00010
FloatPixelData = 0x7FE00008
DoubleFloatPixelData = 0x7FE00009

#: Dictionary VR of every tag above that holds a value (not a sequence, not pixel data).
VR: dict[int, str] = {
    TransferSyntaxUID: "UI",
    SpecificCharacterSet: "CS",
    ImageType: "CS",
    SOPClassUID: "UI",
    SOPInstanceUID: "UI",
    StudyInstanceUID: "UI",
    SeriesInstanceUID: "UI",
    FrameOfReferenceUID: "UI",
    Modality: "CS",
    SeriesNumber: "IS",
    InstanceNumber: "IS",
    AcquisitionNumber: "IS",
    SeriesDescription: "LO",
    Manufacturer: "LO",
    ConvolutionKernel: "SH",
    AcquisitionDateTime: "DT",
    AcquisitionDate: "DA",
    AcquisitionTime: "TM",
    ContentTime: "TM",
    InstanceCreationTime: "TM",
    GantryDetectorTilt: "DS",
    ImagePositionPatient: "DS",
    ImageOrientationPatient: "DS",
    PixelSpacing: "DS",
    ImagerPixelSpacing: "DS",
    SliceThickness: "DS",
    SpacingBetweenSlices: "DS",
    Rows: "US",
    Columns: "US",
    NumberOfFrames: "IS",
    SamplesPerPixel: "US",
    PhotometricInterpretation: "CS",
    BitsAllocated: "US",
    BitsStored: "US",
    PixelRepresentation: "US",
    RescaleSlope: "DS",
    RescaleIntercept: "DS",
    WindowCenter: "DS",
    WindowWidth: "DS",
    TemporalPositionIdentifier: "IS",
    EchoNumbers: "IS",
    EchoTime: "DS",
    TriggerTime: "DS",
    DiffusionBValue: "FD",
    DiffusionGradientOrientation: "FD",
    DiffusionDirectionality: "CS",
    EffectiveEchoTime: "FD",
    DimensionIndexPointer: "AT",
    FunctionalGroupPointer: "AT",
    DimensionIndexPrivateCreator: "LO",
    FunctionalGroupPrivateCreator: "LO",
    DimensionDescriptionLabel: "LO",
    DimensionIndexValues: "UL",
    StackID: "SH",
    InStackPositionNumber: "UL",
    TemporalPositionIndex: "UL",
    NominalCardiacTriggerDelayTime: "FD",
    FrameType: "CS",
}

#: every constant above (tag keywords, and VR): written once, where it is defined
__all__ = [name for name in list(globals()) if name[0].isupper()]
