"""Patient records: demographics, laboratory observations, genetics, lifestyle, clinical findings."""

from patients.models.findings import Ascites, ClinicalFinding, Encephalopathy, HbvStatus, HcvStatus
from patients.models.genetics import GeneticFinding, Zygosity
from patients.models.grants import ShareGrant, ShareScope
from patients.models.lifestyle import AlcoholUnit, DiabetesStatus, LifestyleRecord, SmokingStatus
from patients.models.nodules import LungNodule, LungNoduleAssessment
from patients.models.observations import LabObservation
from patients.models.patient import Patient, PatientStatus, Sex
from patients.models.source import RecordSource

__all__ = [
    "AlcoholUnit",
    "Ascites",
    "ClinicalFinding",
    "DiabetesStatus",
    "Encephalopathy",
    "GeneticFinding",
    "HbvStatus",
    "HcvStatus",
    "LabObservation",
    "LifestyleRecord",
    "LungNodule",
    "LungNoduleAssessment",
    "Patient",
    "PatientStatus",
    "RecordSource",
    "Sex",
    "ShareGrant",
    "ShareScope",
    "SmokingStatus",
    "Zygosity",
]
