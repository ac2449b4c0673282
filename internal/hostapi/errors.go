package hostapi

// AbortError is how a guest's call to `abort` ends its invocation. The engine
// finds it with errors.As in the error wazero returns.
type AbortError struct {
	// Message is the guest's message, truncated to the log message limit.
	Message string
}

func (e *AbortError) Error() string { return "guest abort: " + e.Message }
