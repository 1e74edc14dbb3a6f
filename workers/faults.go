package workers

// FaultPoint names a point between two steps of processing an item, where
// the crash tests kill the process (Options.Fault) to prove that a restart
// finishes the job exactly once. The points follow the order of the steps.
type FaultPoint string

const (
	// FaultRawStored: raw/<sha> is written; nothing else is.
	FaultRawStored FaultPoint = "raw-stored"
	// FaultNumberReserved: the registration number is bound to the raw sha
	// (index/raw/<sha>/0); no document is written.
	FaultNumberReserved FaultPoint = "number-reserved"
	// FaultDocumentsHalfWritten: half of the documents are written, no
	// manifest.
	FaultDocumentsHalfWritten FaultPoint = "documents-half-written"
	// FaultDossierCreated: the manifest (and queue marker) are written, the
	// done marker is not.
	FaultDossierCreated FaultPoint = "dossier-created"
	// FaultDoneMarked: index/done/<sha> is written, the source is not acked.
	FaultDoneMarked FaultPoint = "done-marked"
	// FaultAcked: the source acknowledged the item (message moved).
	FaultAcked FaultPoint = "acked"
)

// FaultPoints lists every point in processing order.
var FaultPoints = []FaultPoint{
	FaultRawStored, FaultNumberReserved, FaultDocumentsHalfWritten,
	FaultDossierCreated, FaultDoneMarked, FaultAcked,
}
