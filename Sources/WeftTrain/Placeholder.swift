import WeftNN
